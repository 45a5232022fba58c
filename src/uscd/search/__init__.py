"""Program-level search: decode, judge the program by the prompt's own examples, branch where the
model was unsure (the `branch` method). Decoding rules choose tokens; this package chooses programs."""
