"""The demo: the example contracts and their meter data, a synthetic city portfolio beside them, and the
workflow a bureau would have gone through by the day the demo is built."""
