"""Integrations of lrpo with RL trainers; each imports its trainer library only when used.

* :mod:`lrpo.integrations.trl`: :class:`~lrpo.integrations.trl.LanguageRouterCallback` for
  TRL's ``GRPOTrainer`` (``pip install "lrpo[trl]"``).
"""
