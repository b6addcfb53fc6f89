"""GeneralPoints: make a target number (24) from four playing cards with + - * / and parentheses."""
