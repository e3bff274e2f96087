/* Times dense_1024_forward (bench/networks/dense_1024.slope) compiled by `slope compile`,
 * with the weights embedded or, with -DUSER_LAYOUT, passed at run time in the user's
 * [units, in] layout: median us per call for batches 1, 4, 16 and 256, >= 0.3 s each.
 * Built and run by bench/aot/run.sh. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include HEADER

static double nowUs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(void) {
  enum { kIn = DENSE_1024_INPUT_SIZE, kOut = DENSE_1024_OUTPUT_SIZE, kMaxRuns = 20000 };
  static double times[kMaxRuns];
#ifdef USER_LAYOUT
  /* Any values do: the time does not depend on them. */
  float *weight = malloc(sizeof(float) * kIn * kOut), *bias = malloc(sizeof(float) * kOut);
  for (long i = 0; i < (long)kIn * kOut; ++i)
    weight[i] = (float)(i % 1000) / 1000.0f - 0.5f;
  for (int i = 0; i < kOut; ++i)
    bias[i] = 0.1f;
  dense_1024_params params = {weight, bias};
#endif
  const int batches[] = {1, 4, 16, 256};
  for (int b = 0; b < (int)(sizeof batches / sizeof batches[0]); ++b) {
    int batch = batches[b];
    float *x = malloc(sizeof(float) * kIn * batch), *y = malloc(sizeof(float) * kOut * batch);
    for (long i = 0; i < (long)kIn * batch; ++i)
      x[i] = (float)(i % 13) / 13.0f;
    int runs = 0;
    double start = nowUs();
    while (runs < kMaxRuns && (runs < 5 || nowUs() - start < 3e5)) {
      double t0 = nowUs();
#ifdef USER_LAYOUT
      int rc = dense_1024_forward(&params, x, y, batch);
#else
      int rc = dense_1024_forward(x, y, batch);
#endif
      times[runs++] = nowUs() - t0;
      if (rc != 0) {
        fprintf(stderr, "dense_1024_forward returned %d\n", rc);
        return 1;
      }
    }
    qsort(times, (size_t)runs, sizeof(double), compare);
    printf("batch %d: median %.1f us\n", batch, times[runs / 2]);
    free(x);
    free(y);
  }
  return 0;
}
