"""cnfpost: explain why a network request was slow, layer by layer, with the packets as proof."""
__version__ = "0.1.0"
