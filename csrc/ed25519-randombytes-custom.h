/*
	The batch check's random coefficients, for ed25519-donna built with ED25519_CUSTOMRANDOM:
	from the kernel's CSPRNG (getrandom), so no library is needed and a signer cannot predict
	them. getrandom does not fail for a few hundred bytes once the pool is initialised; a short
	read or an interrupted call is simply repeated.
*/
#include <sys/random.h>

void
ED25519_FN(ed25519_randombytes_unsafe) (void *p, size_t len) {
	unsigned char *out = (unsigned char *)p;
	while (len > 0) {
		ssize_t got = getrandom(out, len, 0);
		if (got > 0) {
			out += got;
			len -= (size_t)got;
		}
	}
}
