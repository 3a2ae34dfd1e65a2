# verbs: filled in by its issue
