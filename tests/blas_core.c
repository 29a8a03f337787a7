/* blas_core.c - prints the CPU model and the kernel OpenBLAS chose for it
 * (OPENBLAS_CORETYPE overrides the choice), so that a test log read on
 * another machine says which arithmetic produced it. */
#include <stdio.h>
#include <string.h>

char *openblas_get_corename(void);
char *openblas_get_config(void);

int main(void)
{
    char line[512], model[512] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *v = strchr(line, ':');
                if (v) {
                    snprintf(model, sizeof model, "%s", v + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    printf("cpu: %s\nopenblas: core %s (%s)\n", model, openblas_get_corename(),
           openblas_get_config());
    return 0;
}
