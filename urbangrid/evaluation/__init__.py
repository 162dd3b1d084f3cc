"""The evaluation (docs/domain.md §6): what department heads read, counted in SQL."""
