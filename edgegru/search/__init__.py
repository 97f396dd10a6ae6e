"""Budget-aware model search: the best model that fits a Cortex-M part (``edgegru search``).

Each trial trains a model, quantises it, generates its C and measures it on the core:
flash and RAM from the C compiled with arm-none-eabi-gcc, instructions per step from the
unicorn counter. Optuna chooses the next trial (accuracy against flash against
instructions) and keeps the study in one SQLite file; Ray can run the trials. docs/search.md.

Nothing is imported here: the parser of ``edgegru search`` reads :mod:`budgets` and
:mod:`space` on a base install, and the modules that need torch, Optuna or Ray import them.
"""
