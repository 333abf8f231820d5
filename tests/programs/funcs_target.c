/* Test program for rtrace's function tests (tests/funcs.rs).
 *
 * Reads commands from stdin, one per line, and answers each on stdout:
 *   mac    calls rt_mac(buf) with the bytes de:ad:be:ef:0a:01, prints "mac done"
 *   ppid   calls getppid(), prints "ppid done"
 * Ends at EOF.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) int rt_mac(const unsigned char *mac) {
    __asm__ volatile("" ::: "memory");
    return mac[0];
}

int main(void) {
    static const unsigned char mac[6] = {0xde, 0xad, 0xbe, 0xef, 0x0a, 0x01};
    char line[32];
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strncmp(line, "mac", 3) == 0) {
            rt_mac(mac);
            printf("mac done\n");
        } else if (strncmp(line, "ppid", 4) == 0) {
            getppid();
            printf("ppid done\n");
        }
    }
    return 0;
}
