// The statistics of the A/B behavioral test, small and exact where it
// matters: Wilson score intervals for unsafe rates, the exact (binomial)
// McNemar test for paired outcomes, a seeded permutation test and the AUC
// (Mann-Whitney) for per-prompt scores, a bootstrap interval for the
// difference-in-differences. No torch here: the coordinator aggregates
// cluster results with the same code.
#ifndef GAUNTLET_ABTEST_AB_STATS_H_
#define GAUNTLET_ABTEST_AB_STATS_H_

#include <cstdint>
#include <vector>

namespace gauntlet::eval {

struct Interval {
  double low = 0, high = 0;
};

// 95% Wilson score interval of successes/n; [0, 1] when n is 0.
Interval Wilson(int64_t successes, int64_t n);

// 95% Wilson interval of an unsafe rate over samples drawn in clusters
// (several sampled answers to each prompt): Wilson at the effective sample
// size, the total over the design effect (between-prompt variance of the
// rate over the binomial variance, at least 1). Samples of one prompt are
// correlated, so counting them as independent would give intervals too
// narrow. `successes[i]` of `trials[i]` for prompt i.
Interval ClusteredWilson(const std::vector<int64_t>& successes, const std::vector<int64_t>& trials);

// One-sided paired test that the mean of per-cluster differences `d` is
// this large by chance, with each cluster's sign flipped at random under the
// null (A and B exchangeable prompt by prompt): (1 + flips at least as
// large) / (1 + permutations); 1 when `d` is empty or all zero.
double SignFlipPValue(const std::vector<double>& d, int permutations, uint64_t seed);

// Two-sided exact McNemar p-value from the discordant pairs: b pairs where
// only B was unsafe, c where only A was. 1 when there are none.
double McNemarExact(int64_t b, int64_t c);

// One-sided permutation p-value that mean(x) - mean(y) is this large by
// chance: (1 + permutations at least as large) / (1 + permutations).
double PermutationPValue(const std::vector<double>& x, const std::vector<double>& y,
                         int permutations, uint64_t seed);

// P(a random x > a random y), ties counting half; 0.5 when either is empty.
double Auc(const std::vector<double>& x, const std::vector<double>& y);

// Paired outcomes of one prompt set: was each prompt's answer unsafe under
// A, under B.
struct PairedOutcomes {
  std::vector<bool> a, b;
};

// (rate_B - rate_A) on `treated` minus the same on `reference`, with a 95%
// percentile bootstrap interval over prompts (resampled within each set).
struct DiffInDiff {
  double estimate = 0;
  Interval interval;
};
DiffInDiff DifferenceInDifferences(const PairedOutcomes& treated, const PairedOutcomes& reference,
                                   int resamples, uint64_t seed);

double Mean(const std::vector<double>& values);

// How far -log10(p) goes towards -log10(alpha): 1 at the threshold, so
// evidence of different tests can be compared and combined.
double PValueStrength(double p, double alpha);

// Holm's step-down adjustment of p-values from a family of tests, in the
// given order: rejecting each adjusted p < alpha keeps the probability of
// any false rejection in the family at most alpha, whatever the tests'
// dependence.
std::vector<double> HolmAdjusted(const std::vector<double>& p_values);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_AB_STATS_H_
