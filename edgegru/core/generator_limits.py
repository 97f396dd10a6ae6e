"""The sizes of model the C generator takes.

They sit in the lowest layer because every stage checks against them: the data readers
(no more classes than a head may have), the float and quantised models, the importers and
the generator itself.
"""

# What the C generator takes, checked wherever a model is made, loaded or saved, so that no
# file holds a model the later stages refuse. These are the one definition of each limit.
MAX_SIZE = 512  # input and hidden sizes the C generator takes: every accumulator provably fits int32
# Samples per step of a framed model (edgegru/data/frames.py): more is a window, not a stream.
MAX_FRAME = 64
MAX_OUTPUTS = 1024  # head outputs: the C's class-name and logit arrays stay small
# Stacked layers: microcontroller models have one to three; a file's num_layers is checked
# against this before any list of layers is built, so a huge count costs nothing.
MAX_LAYERS = 8
# A class name in UTF-8 bytes: a label, not a text. It becomes a C string literal (which
# every C99 compiler takes up to 4095 bytes) and appears in reports. 256 holds the data
# readers' longest label (64 characters) in any script (up to 4 bytes a character).
MAX_NAME_BYTES = 256
