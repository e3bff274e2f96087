/* Classifies the held-out 8x8 digits with the network that slope compiled ahead of
   time, its weights embedded in the object. Plain C99: no LLVM, no slope library.

     classify TEST_X.npy TEST_Y.npy EXPECTED_SCORES.npy

   Prints the accuracy and checks every score against PyTorch's (expected_scores.npy)
   up to float32 summation order. Exits 1 on an error or a mismatch. */
#include "digits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a NumPy .npy file (format 1.0, C order) whose dtype is `descr`, e.g. "<f4".
   Returns its data (free it) and sets *count to the number of elements, or NULL. */
static void *read_npy(const char *path, const char *descr, size_t item_size, size_t *count) {
  FILE *f = fopen(path, "rb");
  unsigned char preamble[10];
  char header[4096], want[64];
  void *data = NULL;
  size_t elements = 1;
  const char *shape;
  unsigned header_len;
  if (!f) {
    perror(path);
    return NULL;
  }
  if (fread(preamble, 1, 10, f) != 10 || memcmp(preamble, "\x93NUMPY\x01", 7) != 0)
    goto bad;
  header_len = preamble[8] | (unsigned)preamble[9] << 8;
  if (header_len >= sizeof header || fread(header, 1, header_len, f) != header_len)
    goto bad;
  header[header_len] = '\0';
  snprintf(want, sizeof want, "'descr': '%s'", descr);
  shape = strstr(header, "'shape': (");
  if (!strstr(header, want) || !strstr(header, "'fortran_order': False") || !shape)
    goto bad;
  for (shape += 10; *shape != ')' && *shape != '\0';) {
    char *end;
    unsigned long dim = strtoul(shape, &end, 10);
    if (end == shape) {
      ++shape; /* a comma or a space */
      continue;
    }
    elements *= dim;
    shape = end;
  }
  data = malloc(elements * item_size + 1);
  if (!data || fread(data, item_size, elements, f) != elements)
    goto bad;
  fclose(f);
  *count = elements;
  return data;
bad:
  fprintf(stderr, "%s: not a C-order .npy file of dtype %s\n", path, descr);
  free(data);
  fclose(f);
  return NULL;
}

int main(int argc, char **argv) {
  size_t nx, ny, ne;
  float *x, *expected, *scores;
  long long *labels;
  int64_t batch, i, correct = 0;
  double worst = 0;
  int c, rc;
  if (argc != 4) {
    fprintf(stderr, "usage: %s TEST_X.npy TEST_Y.npy EXPECTED_SCORES.npy\n", argv[0]);
    return 2;
  }
  x = read_npy(argv[1], "<f4", sizeof(float), &nx);
  labels = read_npy(argv[2], "<i8", sizeof(long long), &ny);
  expected = read_npy(argv[3], "<f4", sizeof(float), &ne);
  if (!x || !labels || !expected)
    return 1;
  batch = (int64_t)(nx / DIGITS_INPUT_SIZE);
  if (nx % DIGITS_INPUT_SIZE != 0 || ny != (size_t)batch ||
      ne != (size_t)batch * DIGITS_OUTPUT_SIZE) {
    fprintf(stderr, "the inputs, labels and expected scores do not match in size\n");
    return 1;
  }

  scores = malloc(sizeof(float) * (size_t)batch * DIGITS_OUTPUT_SIZE);
  if (!scores)
    return 1;
  rc = digits_forward(x, scores, batch);
  if (rc != 0) {
    fprintf(stderr, "digits_forward failed with %d\n", rc);
    return 1;
  }
  if (digits_forward(x, scores, -1) == 0 || digits_forward(NULL, scores, 1) == 0) {
    fprintf(stderr, "digits_forward accepted a bad argument\n");
    return 1;
  }

  for (i = 0; i < batch; ++i) {
    const float *row = scores + i * DIGITS_OUTPUT_SIZE;
    int best = 0;
    for (c = 0; c < DIGITS_OUTPUT_SIZE; ++c) {
      double e = expected[i * DIGITS_OUTPUT_SIZE + c];
      double error = fabs(row[c] - e) / (1.0 + fabs(e));
      if (!(error <= worst))
        worst = error;
      if (row[c] > row[best])
        best = c;
    }
    correct += best == labels[i];
  }
  printf("digits (C, weights embedded): %lld of %lld correct (%.1f%%), "
         "largest difference from PyTorch %.2g\n",
         (long long)correct, (long long)batch, 100.0 * (double)correct / (double)batch, worst);
  free(x);
  free(labels);
  free(expected);
  free(scores);
  if (!(worst <= 1e-4)) {
    fprintf(stderr, "the scores differ from PyTorch's by more than summation order\n");
    return 1;
  }
  return 0;
}
