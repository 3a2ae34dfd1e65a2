# mpi-plugin: filled in by its issue
