"""004's crowdsourced energy system (Wang, Taha and Wang), the operator's off-chain part.

- `feeder`: the radial feeder CES-OPF runs on. 004 used the SCE 56-bus feeder; no installed
  package ships it (pandapower's networks do not), so this is pandapower's IEEE 33-bus `case33bw`,
  the stated substitute, with its line impedances and limits.
- `assets`: the crowdsourcees' batteries, solar, uncontrollable and shapable loads sized as 004's
  Section VI sizes them, and the preferences a participant posts on chain (integers).
- `opf`: CES-OPF (1), a multi-period SOCP relaxation of the branch flow model; the DLMPs are the
  duals of each bus's active-power balance (Section IV).
- `incentives`: CES-ID (2) linearised (y_i = lambda^a_i u^a_i), an LP per interval.
- `operator_policy`: Algorithm 1's operator policy (offer, raise on refusal up to a threshold, update
  eta/zeta, supplement from traditional generation).
- `participant`: the crowdsourcees' side: the acceptance model and what their meters show.

Floats throughout: these are the operator's solvers. What reaches a transaction is an integer,
rounded in `operator_policy` and `assets`.
"""
