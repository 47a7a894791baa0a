//! Fault injection: random faults at configured rates and scripted sequences.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{EndpointFamily, Fault, FaultPlan, ScriptStep};

#[derive(Debug)]
pub struct FaultState {
    pub plan: FaultPlan,
    rng: ChaCha8Rng,
}

impl FaultState {
    pub fn new(plan: FaultPlan, seed: u64) -> Self {
        Self {
            plan,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xFA17),
        }
    }

    /// The fault a request gets, if any; scripted steps first, in order, then random rates.
    pub fn next(&mut self, family: EndpointFamily, hub_id: Option<u64>) -> Option<Fault> {
        let fits = |step_family: Option<EndpointFamily>, step_hub: Option<u64>| {
            step_family.is_none_or(|f| f == family) && step_hub.is_none_or(|h| Some(h) == hub_id)
        };
        if let Some(pos) = self
            .plan
            .script
            .iter()
            .position(|s: &ScriptStep| s.count > 0 && fits(s.family, s.hub_id))
        {
            let step = &mut self.plan.script[pos];
            step.count -= 1;
            let fault = step.fault.clone();
            if step.count == 0 {
                self.plan.script.remove(pos);
            }
            return Some(fault);
        }
        for rate in &self.plan.rates {
            if fits(rate.family, rate.hub_id)
                && self.rng.random_bool(rate.probability.clamp(0.0, 1.0))
            {
                return Some(rate.fault.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FaultBody, FaultRate};

    fn status(code: u16) -> Fault {
        Fault::Status {
            status: code,
            body: FaultBody::Html,
            retry_after_secs: None,
        }
    }

    #[test]
    fn scripted_steps_apply_to_matching_requests_in_order() {
        let mut state = FaultState::new(
            FaultPlan {
                rates: Vec::new(),
                script: vec![
                    ScriptStep {
                        family: Some(EndpointFamily::Search),
                        hub_id: None,
                        count: 2,
                        fault: status(503),
                    },
                    ScriptStep {
                        family: None,
                        hub_id: None,
                        count: 1,
                        fault: Fault::Reset,
                    },
                ],
            },
            1,
        );
        assert_eq!(state.next(EndpointFamily::List, None), Some(Fault::Reset));
        assert_eq!(state.next(EndpointFamily::List, None), None);
        assert_eq!(state.next(EndpointFamily::Search, None), Some(status(503)));
        assert_eq!(state.next(EndpointFamily::Search, None), Some(status(503)));
        assert_eq!(state.next(EndpointFamily::Search, None), None);
    }

    #[test]
    fn rates_fire_about_as_often_as_configured() {
        let mut state = FaultState::new(
            FaultPlan {
                rates: vec![FaultRate {
                    family: None,
                    hub_id: None,
                    probability: 0.25,
                    fault: status(500),
                }],
                script: Vec::new(),
            },
            3,
        );
        let hits = (0..4000)
            .filter(|_| state.next(EndpointFamily::List, None).is_some())
            .count();
        assert!((800..1200).contains(&hits), "{hits}");
    }
}
