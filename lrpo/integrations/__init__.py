"""Integrations of lrpo with RL trainers; each imports its trainer library only when used.

* :mod:`lrpo.integrations.trl`: :class:`~lrpo.integrations.trl.LanguageRouterCallback` for
  TRL's ``GRPOTrainer`` (``pip install "lrpo[trl]"``).
* :mod:`lrpo.integrations.openrlhf`: the agent executor and reward function behind the files in
  ``recipes/openrlhf/`` (OpenRLHF 0.11).
* :mod:`lrpo.integrations.verl`: the routed agent loop and ``compute_score`` behind the files in
  ``recipes/verl/`` (verl 0.9).
* :mod:`lrpo.integrations.plugin`: what those file-based plugins share (the plugin config
  read from ``$LRPO_CONFIG``, the router client, rewards from packed labels, which live in
  :mod:`lrpo.labelled`).
* :mod:`lrpo.integrations.tags`: the ``tag`` directive's language tags as single tokens of a
  ``transformers`` tokenizer, for the SFT warm-start that teaches a model to read them.
"""
