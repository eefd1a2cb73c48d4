"""The text layer: how every check folds what an attacker wrote to what a reader sees.

``fold`` holds the rules (invisible characters, compatibility forms, look-alike letters,
accents, digits for letters, letter pairs); ``visual`` the order and words a reader sees
(right-to-left overrides, letter-spaced words); ``unicode_data`` reads the generated Unicode
data files (skeletons, scripts, invisible characters) and says which version they are.
"""

from .fold import LEET, TYPOGRAPHY, fold_key, reading, skeleton, strip_invisible, strip_marks
from .unicode_data import script_of
from .visual import join_spaced_letters, visual_order

__all__ = ["LEET", "TYPOGRAPHY", "fold_key", "join_spaced_letters", "reading", "script_of",
           "skeleton", "strip_invisible", "strip_marks", "visual_order"]
