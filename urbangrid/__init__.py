"""urbangrid's shared core: settings, database, tables and the domain rules every process uses."""
