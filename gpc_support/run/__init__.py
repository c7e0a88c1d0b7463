"""Running the study: the command line, notebook execution, stop handling, executors, progress."""
