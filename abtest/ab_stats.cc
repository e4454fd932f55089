#include "abtest/ab_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace gauntlet::eval {

namespace {
constexpr double kZ95 = 1.959963984540054;

double Rate(const std::vector<bool>& outcomes, const std::vector<size_t>& picks) {
  if (picks.empty()) return 0;
  size_t hits = 0;
  for (size_t i : picks) hits += outcomes[i];
  return double(hits) / double(picks.size());
}

Interval WilsonReal(double successes, double n) {
  if (n <= 0) return {0, 1};
  double p = successes / n, z2 = kZ95 * kZ95;
  double center = (p + z2 / (2 * n)) / (1 + z2 / n);
  double half = kZ95 * std::sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
  // At 0 or n successes a bound is exactly 0 or 1; the formula leaves
  // rounding noise there (1.4e-17 for 0 of 24).
  return {successes <= 0 ? 0.0 : std::max(0.0, center - half),
          successes >= n ? 1.0 : std::min(1.0, center + half)};
}
}  // namespace

Interval Wilson(int64_t successes, int64_t n) { return WilsonReal(double(successes), double(n)); }

Interval ClusteredWilson(const std::vector<int64_t>& successes,
                         const std::vector<int64_t>& trials) {
  double total = 0, hits = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    total += double(trials[i]);
    hits += double(successes[i]);
  }
  if (total <= 0) return {0, 1};
  double p = hits / total, design_effect = 1;
  size_t clusters = trials.size();
  if (clusters > 1 && p > 0 && p < 1) {
    // Ratio-estimator variance of p over clusters, against the binomial one.
    double spread = 0;
    for (size_t i = 0; i < clusters; ++i) {
      double residual = double(successes[i]) - p * double(trials[i]);
      spread += residual * residual;
    }
    double cluster_variance = double(clusters) / double(clusters - 1) * spread / (total * total);
    design_effect = std::max(1.0, cluster_variance / (p * (1 - p) / total));
  }
  double effective = total / design_effect;
  return WilsonReal(p * effective, effective);
}

double SignFlipPValue(const std::vector<double>& d, int permutations, uint64_t seed) {
  double observed = Mean(d);
  if (d.empty() || std::all_of(d.begin(), d.end(), [](double x) { return x == 0; })) return 1;
  std::mt19937_64 rng(seed);
  int at_least = 0;
  for (int i = 0; i < permutations; ++i) {
    double sum = 0;
    for (double x : d) sum += (rng() & 1) ? x : -x;
    if (sum / double(d.size()) >= observed - 1e-12) ++at_least;
  }
  return (1.0 + at_least) / (1.0 + permutations);
}

double McNemarExact(int64_t b, int64_t c) {
  int64_t n = b + c, k = std::min(b, c);
  if (n == 0) return 1;
  // 2 * P(X <= k) for X ~ Binomial(n, 1/2), summed in log space.
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) -
                     n * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

double Mean(const std::vector<double>& values) {
  return values.empty() ? 0 : std::accumulate(values.begin(), values.end(), 0.0) / values.size();
}

double PermutationPValue(const std::vector<double>& x, const std::vector<double>& y,
                         int permutations, uint64_t seed) {
  if (x.empty() || y.empty()) return 1;
  double observed = Mean(x) - Mean(y);
  std::vector<double> pooled = x;
  pooled.insert(pooled.end(), y.begin(), y.end());
  double total = std::accumulate(pooled.begin(), pooled.end(), 0.0);
  std::mt19937_64 rng(seed);
  int at_least = 0;
  for (int i = 0; i < permutations; ++i) {
    // A partial Fisher-Yates shuffle draws the x group; y is the rest.
    double sum_x = 0;
    for (size_t j = 0; j < x.size(); ++j) {
      std::swap(pooled[j],
                pooled[std::uniform_int_distribution<size_t>(j, pooled.size() - 1)(rng)]);
      sum_x += pooled[j];
    }
    double diff = sum_x / x.size() - (total - sum_x) / y.size();
    if (diff >= observed - 1e-12) ++at_least;
  }
  return (1.0 + at_least) / (1.0 + permutations);
}

double Auc(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.empty() || y.empty()) return 0.5;
  double wins = 0;
  for (double a : x)
    for (double b : y) wins += a > b ? 1 : a == b ? 0.5 : 0;
  return wins / (double(x.size()) * double(y.size()));
}

DiffInDiff DifferenceInDifferences(const PairedOutcomes& treated, const PairedOutcomes& reference,
                                   int resamples, uint64_t seed) {
  auto all = [](size_t n) {
    std::vector<size_t> picks(n);
    std::iota(picks.begin(), picks.end(), 0);
    return picks;
  };
  auto did = [&](const std::vector<size_t>& t, const std::vector<size_t>& r) {
    return (Rate(treated.b, t) - Rate(treated.a, t)) -
           (Rate(reference.b, r) - Rate(reference.a, r));
  };
  DiffInDiff out;
  out.estimate = did(all(treated.a.size()), all(reference.a.size()));
  if (treated.a.empty() || reference.a.empty()) {
    out.interval = {out.estimate, out.estimate};
    return out;
  }
  std::mt19937_64 rng(seed);
  auto resample = [&](size_t n) {
    std::vector<size_t> picks(n);
    for (size_t& p : picks) p = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
    return picks;
  };
  std::vector<double> draws;
  for (int i = 0; i < resamples; ++i)
    draws.push_back(did(resample(treated.a.size()), resample(reference.a.size())));
  std::sort(draws.begin(), draws.end());
  auto at = [&](double q) { return draws[static_cast<size_t>(q * (draws.size() - 1))]; };
  out.interval = {at(0.025), at(0.975)};
  return out;
}

std::vector<double> HolmAdjusted(const std::vector<double>& p_values) {
  std::vector<size_t> order(p_values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return p_values[x] < p_values[y]; });
  std::vector<double> adjusted(p_values.size());
  double running = 0;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    double scaled = std::min(1.0, double(order.size() - rank) * p_values[order[rank]]);
    running = std::max(running, scaled);
    adjusted[order[rank]] = running;
  }
  return adjusted;
}

double PValueStrength(double p, double alpha) {
  return std::log10(1 / std::max(p, 1e-300)) / std::log10(1 / alpha);
}

}  // namespace gauntlet::eval
