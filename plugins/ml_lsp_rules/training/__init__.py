"""Training-loop rules: read the script's ``ast`` (through ``ctx.script``, a
``ScriptFacts``), never run it. Warnings, because a script can be right for reasons the
text does not show; each stays silent when a name's role is not clear."""
