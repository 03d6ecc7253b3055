"""Data layer: task features, task loading, the generated benchmark, corpus preparation."""
