"""Instruction corpora for stages 2 and 3: loaders, rendering, chat masks, packing (see ``build``)."""
