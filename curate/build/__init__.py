"""Build: recipes, the pipeline that plans a build's tasks, and the build report."""
