"""A run in two stages with samples.jsonl as the seam: generation (model in, samples out) and
evaluation (samples in, verdicts out). The evaluation stage is the same code whether the samples
come from uscd's own generation stage or from another tool's file.
"""
