//! Associations between records, stored in both directions as HubSpot does, each link
//! carrying the association type ids that apply to it (e.g. unlabeled 341 and Primary 5).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AssocCategory {
    #[serde(rename = "HUBSPOT_DEFINED")]
    HubspotDefined,
    #[serde(rename = "USER_DEFINED")]
    UserDefined,
}

impl AssocCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HubspotDefined => "HUBSPOT_DEFINED",
            Self::UserDefined => "USER_DEFINED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssocRole {
    /// The default type every association of the pair carries.
    Unlabeled,
    /// HubSpot's "Primary" flavour (contact→company, deal→company, …).
    Primary,
    /// A user-defined label.
    Labeled,
}

/// One association type of a (from table, to table) pair.
#[derive(Debug, Clone)]
pub struct AssocDef {
    pub from: usize,
    pub to: usize,
    pub type_id: u32,
    pub category: AssocCategory,
    pub role: AssocRole,
    pub label: Option<String>,
    /// Name used by inline v3 associations (`deal_to_company`, `deal_to_company_unlabeled`).
    pub v3_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub to_id: u64,
    pub type_ids: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct AssocStore {
    pub defs: Vec<AssocDef>,
    /// (from table, to table) → from id → links, in the order they were made.
    pairs: HashMap<(usize, usize), BTreeMap<u64, Vec<Link>>>,
}

impl AssocStore {
    pub fn def(&self, from: usize, to: usize, type_id: u32) -> Option<&AssocDef> {
        self.defs
            .iter()
            .find(|d| d.from == from && d.to == to && d.type_id == type_id)
    }

    pub fn defs_for(&self, from: usize, to: usize) -> impl Iterator<Item = &AssocDef> {
        self.defs
            .iter()
            .filter(move |d| d.from == from && d.to == to)
    }

    fn role_type(&self, from: usize, to: usize, role: AssocRole) -> Option<u32> {
        self.defs_for(from, to)
            .find(|d| d.role == role)
            .map(|d| d.type_id)
    }

    /// The reverse type of a type id: the type of the same role (or label) the other way.
    fn reverse_type(&self, from: usize, to: usize, type_id: u32) -> Option<u32> {
        let def = self.def(from, to, type_id)?;
        self.defs_for(to, from)
            .find(|d| d.role == def.role && d.label == def.label)
            .map(|d| d.type_id)
    }

    /// Associates two records with the pair's default type (and Primary when asked and the
    /// pair has one), in both directions. Returns false when the pair has no association type.
    pub fn associate(
        &mut self,
        from: usize,
        from_id: u64,
        to: usize,
        to_id: u64,
        primary: bool,
    ) -> bool {
        let Some(unlabeled) = self.role_type(from, to, AssocRole::Unlabeled) else {
            return false;
        };
        let mut types = vec![unlabeled];
        if primary && let Some(p) = self.role_type(from, to, AssocRole::Primary) {
            types.insert(0, p);
        }
        self.associate_types(from, from_id, to, to_id, &types);
        true
    }

    /// Adds links with the given type ids (and their reverses the other way).
    pub fn associate_types(
        &mut self,
        from: usize,
        from_id: u64,
        to: usize,
        to_id: u64,
        type_ids: &[u32],
    ) {
        let reverse: Vec<u32> = type_ids
            .iter()
            .filter_map(|t| self.reverse_type(from, to, *t))
            .collect();
        add(
            self.pairs.entry((from, to)).or_default(),
            from_id,
            to_id,
            type_ids,
        );
        add(
            self.pairs.entry((to, from)).or_default(),
            to_id,
            from_id,
            &reverse,
        );
    }

    /// Removes every link between two records, both directions.
    pub fn dissociate(&mut self, from: usize, from_id: u64, to: usize, to_id: u64) -> bool {
        let a = remove(self.pairs.get_mut(&(from, to)), from_id, to_id);
        let b = remove(self.pairs.get_mut(&(to, from)), to_id, from_id);
        a || b
    }

    pub fn links(&self, from: usize, to: usize, from_id: u64) -> &[Link] {
        self.pairs
            .get(&(from, to))
            .and_then(|m| m.get(&from_id))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every (from id, link) of a pair, for the ground truth.
    pub fn all(&self, from: usize, to: usize) -> impl Iterator<Item = (u64, &Link)> {
        self.pairs.get(&(from, to)).into_iter().flat_map(|m| {
            m.iter()
                .flat_map(|(id, links)| links.iter().map(move |l| (*id, l)))
        })
    }

    /// Moves every association of `old` (in table `table`) to `new`, as a merge does.
    pub fn move_record(&mut self, table: usize, old: u64, new: u64) {
        let keys: Vec<(usize, usize)> = self.pairs.keys().copied().collect();
        for (from, to) in keys {
            if from == table {
                let links = self
                    .pairs
                    .get_mut(&(from, to))
                    .and_then(|m| m.remove(&old))
                    .unwrap_or_default();
                for link in links {
                    if from == to && link.to_id == new {
                        continue;
                    }
                    add(
                        self.pairs.entry((from, to)).or_default(),
                        new,
                        link.to_id,
                        &link.type_ids,
                    );
                }
            }
            if to == table
                && let Some(map) = self.pairs.get_mut(&(from, to))
            {
                for links in map.values_mut() {
                    for link in links.iter_mut() {
                        if link.to_id == old {
                            link.to_id = new;
                        }
                    }
                    dedupe(links);
                }
            }
        }
    }
}

fn add(map: &mut BTreeMap<u64, Vec<Link>>, from_id: u64, to_id: u64, type_ids: &[u32]) {
    if type_ids.is_empty() {
        return;
    }
    let links = map.entry(from_id).or_default();
    match links.iter_mut().find(|l| l.to_id == to_id) {
        Some(link) => {
            for t in type_ids {
                if !link.type_ids.contains(t) {
                    link.type_ids.push(*t);
                }
            }
        }
        None => links.push(Link {
            to_id,
            type_ids: type_ids.to_vec(),
        }),
    }
}

fn remove(map: Option<&mut BTreeMap<u64, Vec<Link>>>, from_id: u64, to_id: u64) -> bool {
    let Some(map) = map else { return false };
    let Some(links) = map.get_mut(&from_id) else {
        return false;
    };
    let before = links.len();
    links.retain(|l| l.to_id != to_id);
    let removed = links.len() != before;
    if links.is_empty() {
        map.remove(&from_id);
    }
    removed
}

fn dedupe(links: &mut Vec<Link>) {
    let mut merged: Vec<Link> = Vec::with_capacity(links.len());
    for link in links.drain(..) {
        match merged.iter_mut().find(|l| l.to_id == link.to_id) {
            Some(existing) => {
                for t in link.type_ids {
                    if !existing.type_ids.contains(&t) {
                        existing.type_ids.push(t);
                    }
                }
            }
            None => merged.push(link),
        }
    }
    *links = merged;
}
