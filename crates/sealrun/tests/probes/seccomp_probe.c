/* What a container's seccomp profile answers (confinement.rs): the errno of
 * a syscall no kernel has (1000: ENOSYS under runc's -ENOSYS stub, the
 * profile's errno without it) and of socket(2) with two protocol values a
 * SCMP_CMP_MASKED_EQ rule tells apart. 0 means the call succeeded.
 * Raw syscall(2): glibc would turn some errnos into others. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int err(long r) { return r < 0 ? errno : 0; }

int main(void)
{
	printf("nr1000=%d ", err(syscall(1000, 0, 0, 0)));
	printf("proto0=%d ", err(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0)));
	printf("proto100=%d\n", err(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0x100)));
	return 0;
}
