"""What a run looks like: text report and JSON, terminal timeline, trace, plots, and the live lanes."""
