/* real.h - the scalar type of every tensor in the runtime and generated code.
 * float by default; -DADVCC_DOUBLE builds a double-precision variant used by
 * the finite-difference gradient checks. */
#ifndef ADVCC_REAL_H
#define ADVCC_REAL_H

#ifdef ADVCC_DOUBLE
typedef double real_t;
#define REAL_DTYPE "F64"
#define REAL_NPY "<f8"
#else
typedef float real_t;
#define REAL_DTYPE "F32"
#define REAL_NPY "<f4"
#endif

#endif
