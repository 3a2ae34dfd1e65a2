# MPI tests
