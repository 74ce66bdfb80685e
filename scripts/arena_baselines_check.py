"""The Arena's baselines next to the `truthdiscovery` package's (issue 15): the same claims,
exported by `stemedb arena --export DIR`, through majority voting, TruthFinder and
PooledInvestment as that package implements them. Prints each scenario's accuracy both ways
and the iterations the package ran. Run by scripts/arena-baselines-check.sh."""
import csv
import json
import sys
import types

# The package imports cairo for its graph drawing, which is not needed here (and does not
# build without the cairo C library).
sys.modules.setdefault("cairo", types.ModuleType("cairo"))

from truthdiscovery import Dataset, MajorityVoting, PooledInvestment, TruthFinder  # noqa: E402

ALGORITHMS = {
    "majority-vote": MajorityVoting,
    "truthfinder": TruthFinder,
    "pooled-investment": PooledInvestment,
}


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def answers(algorithm, triples, facts):
    result = algorithm().run(Dataset(triples))
    chosen = {"iterations": result.iterations}
    for fact in facts:
        best = result.get_most_believed_values(fact)
        # Ties go to the smallest value text, as in the arena's own baselines.
        chosen[fact] = min(best) if best else None
    return chosen


def main(directory):
    ours = json.load(open(f"{directory}/baselines.json"))
    print(f"seed {ours['seed']}, {ours['facts']} facts")
    print("| scenario | baseline | arena | truthdiscovery | its iterations |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for scenario, by_baseline in ours["baselines"].items():
        claims = read(f"{directory}/{scenario}.claims.csv")
        truth = {row["fact"]: row["value"] for row in read(f"{directory}/{scenario}.truth.csv")}
        triples = [(row["agent"], row["fact"], row["value"]) for row in claims]
        facts = sorted({row["fact"] for row in claims})
        for name, algorithm in ALGORITHMS.items():
            theirs = answers(algorithm, triples, facts)
            accuracy = sum(theirs.get(f) == truth[f] for f in truth) / len(truth)
            mine = by_baseline[name]
            worst = max(worst, abs(mine - accuracy))
            rounds = theirs["iterations"]
            print(f"| {scenario} | {name} | {100 * mine:.1f} | {100 * accuracy:.1f} | {rounds} |")
    print(f"largest difference in accuracy: {100 * worst:.1f} points")


if __name__ == "__main__":
    main(sys.argv[1])
