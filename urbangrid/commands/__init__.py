"""The composition layer: the command line, the runner and the benchmarks, the only
part that imports every other."""
