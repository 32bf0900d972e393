// Preloaded into the MPI ranks of sanitizer builds by tensor_parallel_mpi_test.sh, never linked
// into cpmserve. Open MPI unloads its plugins (mca_*.so) in MPI_Finalize; LeakSanitizer then cannot
// name the library that still holds memory at exit, and tests/dist/lsan_mpi.supp could not
// suppress MPI's own leaks by name. A dlclose that keeps every library mapped fixes that.
extern "C" int dlclose(void*) {
  return 0;
}
