"""The producer: submits task1/task2 jobs to the cluster, waits, and shows who ran what when."""
