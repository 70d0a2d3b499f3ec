"""The course's experiments on a running cluster: compare (worker flavours), sweep (workers), course_quiz."""
