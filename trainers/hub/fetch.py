"""Download a hub repository (or part of one) with huggingface_hub, then verify and unpack what arrived.

`snapshot_download` provides the cache layout, HF_TOKEN handling, concurrent fetches, skipping of files
already complete (so an interrupted run resumes where it stopped) and HTTP Range resumption of a dropped
transfer. On top of it: settings read at call time, one-line errors that name the repository and never the
token, a file-by-file check against the Hub listing, and unpacking of the V-IRL route archives.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from trainers.hub.archives import extract_archive
from trainers.hub.catalog import CatalogEntry, lookup
from trainers.hub.settings import hub_cache_dir, hub_endpoint, hub_offline, redact_token
from trainers.hub.verify import fetch_listing, read_cached_listing, verify_files

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

Stage = Callable[[str, "int | None"], ContextManager[Any]]  # (description, total) -> handle with .advance(n)


class HubError(Exception):
    """A download that could not be done, with a one-line reason (never containing a token)."""


@dataclass(frozen=True)
class DownloadRequest:
    repo_id: str
    repo_type: str = "model"
    revision: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    local_dir: Path | None = None
    archives: tuple[str, ...] = ()
    check_hashes: bool = True
    extract: bool = True
    entry: CatalogEntry | None = None


@dataclass
class DownloadResult:
    path: Path
    repo_id: str
    repo_type: str
    commit: str | None
    files: int = 0
    bytes: int = 0
    verified: bool = False
    offline: bool = False
    extracted: list[Path] = field(default_factory=list)


def make_request(name_or_repo: str, *, repo_type: str | None = None, revision: str | None = None,
                 include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), local_dir: Path | None = None,
                 check_hashes: bool = True, extract: bool = True) -> DownloadRequest:
    """A request for a published name (see the catalog) or for any `owner/name` hub repository."""
    entry = lookup(name_or_repo)
    if entry is not None:
        if repo_type is not None and repo_type != entry.repo_type:
            raise HubError(f"{entry.name} is a {entry.repo_type} repository ({entry.repo_id}), not a {repo_type}")
        return DownloadRequest(entry.repo_id, entry.repo_type, revision, tuple(include) or entry.include,
                               tuple(exclude), local_dir, entry.archives, check_hashes, extract, entry)
    if not _REPO_ID.match(name_or_repo):
        raise HubError(f"unknown name {name_or_repo!r}: use a published name (sftvsrl download --list) "
                       "or a hub repository id such as owner/name")
    return DownloadRequest(name_or_repo, repo_type or "model", revision, tuple(include), tuple(exclude), local_dir,
                           (), check_hashes, extract)


def _no_stage(description: str, total: int | None) -> ContextManager[Any]:
    return contextlib.nullcontext(_Silent())


class _Silent:
    def advance(self, amount: int = 1, **fields: Any) -> None:
        pass


def download(request: DownloadRequest, *, show_progress: bool = True, stage: Stage = _no_stage) -> DownloadResult:
    """Fetch (or, offline, find in the cache) the requested files, verify them and unpack archives."""
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    cache_dir = hub_cache_dir()
    try:
        with progress_bars(show_progress):
            folder = snapshot_download(
                request.repo_id, repo_type=request.repo_type, revision=request.revision, cache_dir=cache_dir,
                local_dir=request.local_dir, allow_patterns=list(request.include) or None,
                ignore_patterns=list(request.exclude) or None, local_files_only=offline, endpoint=hub_endpoint())
    except Exception as error:  # huggingface_hub raises many types; each becomes one line
        raise HubError(describe_error(error, request, offline, cache_dir)) from None
    root = Path(folder)
    result = DownloadResult(root, request.repo_id, request.repo_type, _commit_of(request, root, cache_dir),
                            offline=offline)
    try:
        _verify(request, result, cache_dir, stage)
        if request.extract:
            _extract(request, result, stage)
    except OSError as error:
        raise HubError(redact_token(str(error).splitlines()[0])) from None
    return result


def storage_folder(cache_dir: Path, repo_id: str, repo_type: str) -> Path:
    """The cache folder of one repository (`models--owner--name`), as huggingface_hub lays it out."""
    return cache_dir / f"{repo_type}s--{repo_id.replace('/', '--')}"


def _commit_of(request: DownloadRequest, root: Path, cache_dir: Path) -> str | None:
    if request.local_dir is None and _COMMIT.match(root.name):
        return root.name
    revision = request.revision or "main"
    if _COMMIT.match(revision):
        return revision
    ref = storage_folder(cache_dir, request.repo_id, request.repo_type) / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit if _COMMIT.match(commit) else None


def _wanted(listing: dict, request: DownloadRequest) -> list[str]:
    from huggingface_hub.utils import filter_repo_objects

    return list(filter_repo_objects(listing, allow_patterns=list(request.include) or None,
                                    ignore_patterns=list(request.exclude) or None))


def _verify(request: DownloadRequest, result: DownloadResult, cache_dir: Path, stage: Stage) -> None:
    if result.commit is None:
        return
    tree_folder = (request.local_dir / ".cache" / "huggingface" if request.local_dir is not None
                   else storage_folder(cache_dir, request.repo_id, request.repo_type))
    listing = read_cached_listing(tree_folder, result.commit)
    if listing is None and not result.offline:
        from huggingface_hub import HfApi

        listing = fetch_listing(HfApi(endpoint=hub_endpoint()), request.repo_id, request.repo_type, result.commit)
    if listing is None:
        return
    wanted = _wanted(listing, request)
    if not wanted and (request.include or request.exclude):
        patterns = ", ".join(request.include or request.exclude)
        raise HubError(f"no file of {request.repo_id} matches {patterns}; the repository has "
                       f"{len(listing)} files (see them with --dry-run and no --include)")
    total = sum(listing[name].size for name in wanted)
    with stage("verify", total) as bar:
        report = verify_files(result.path, listing, wanted, bar.advance, request.check_hashes)
    result.files, result.bytes, result.verified = report.files, report.bytes, True


def _extract(request: DownloadRequest, result: DownloadResult, stage: Stage) -> None:
    for name in request.archives:
        archive = result.path / name
        if archive.is_file():
            with stage(f"unpack {archive.name}", None) as bar:
                result.extracted.append(extract_archive(archive, bar.advance))


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Turn huggingface_hub's byte progress bars off for the duration (when not wanted), then restore them."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if enabled or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def describe_error(error: Exception, request: DownloadRequest, offline: bool, cache_dir: Path) -> str:
    """One line saying what went wrong and what to do, for any error snapshot_download raises."""
    from huggingface_hub import errors
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    IncompleteSnapshotError = getattr(errors, "IncompleteSnapshotError", ())  # huggingface_hub >= 2.x only

    repo = f"{request.repo_id} ({request.repo_type})"
    name = request.entry.name if request.entry is not None else request.repo_id
    if isinstance(error, IncompleteSnapshotError):
        message = (f"{repo} is only partly downloaded and the Hub cannot be reached; run `sftvsrl download "
                   f"{name}` again with network access to finish it")
    elif isinstance(error, LocalEntryNotFoundError) and offline:
        message = (f"offline (HF_HUB_OFFLINE is set) and {repo} is not in the cache {cache_dir}; "
                   f"unset HF_HUB_OFFLINE and run `sftvsrl download {name}`")
    elif isinstance(error, LocalEntryNotFoundError):
        message = (f"cannot reach the Hub at {hub_endpoint()} and {repo} is not in the cache {cache_dir}; "
                   "check the network (or HF_ENDPOINT) and try again")
    elif isinstance(error, GatedRepoError):
        message = (f"{repo} is gated: accept its terms on its Hub page, then set HF_TOKEN to a token of that "
                   "account")
    elif isinstance(error, RepositoryNotFoundError) or _status(error) in (401, 403):
        auth = "the token in HF_TOKEN was not accepted" if _token_set() else "no token is set (HF_TOKEN)"
        reason = "needs authentication" if _status(error) in (401, 403) else "was not found"
        message = (f"{repo} {reason} at {hub_endpoint()}: check the name and --repo-type; if it is private, "
                   f"{auth}")
    elif isinstance(error, RevisionNotFoundError):
        message = f"revision {request.revision!r} does not exist in {repo}"
    elif isinstance(error, HfHubHTTPError):
        message = f"the Hub answered {_status(error) or 'an error'} while downloading {repo}: {_first_line(error)}"
    else:
        message = f"downloading {repo} failed: {type(error).__name__}: {_first_line(error)}"
    return redact_token(message)


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _token_set() -> bool:
    from huggingface_hub import get_token

    return get_token() is not None
