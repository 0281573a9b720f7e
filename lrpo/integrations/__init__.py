"""Integrations of lrpo with RL trainers; each imports its trainer library only when used.

:mod:`.trl` (TRL's ``GRPOTrainer``), :mod:`.openrlhf` (OpenRLHF 0.11) and :mod:`.verl` (verl 0.9)
behind the files in ``recipes/``; :mod:`.plugin`, what the file-based plugins share;
:mod:`.tags`, the ``tag`` directive's language tags as single tokens, for the SFT warm-start.
"""
