/*
	ed25519-donna built with ED25519_CUSTOMRANDOM needs this function for its own batch function,
	which csrc/ed25519_batch.c does not call (it draws its coefficients with random_coefficients,
	which can report a failure): reaching it is a bug, so it stops the process.
*/
#include <stdlib.h>

void
ED25519_FN(ed25519_randombytes_unsafe) (void *p, size_t len) {
	(void)p;
	(void)len;
	abort();
}
