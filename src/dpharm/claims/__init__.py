"""Claims: verdict rules, the effects the claim tests compute, and their intervals."""
