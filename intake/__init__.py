"""The intake API: where residents' reports enter urbangrid."""
