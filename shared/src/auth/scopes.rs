//! Which Maskinporten scopes each Altinn API gets. Every call asks for a token holding only the
//! scopes its own API checks, so a token that leaks from one API (a log, a proxy, a compromised
//! endpoint) opens none of the others; Altinn's own guidance for Maskinporten clients is not to
//! leak unnecessary scopes
//! (<https://docs.altinn.studio/authentication/what-do-you-get/maskinporten/>).
//!
//! | set | scopes | used for |
//! |---|---|---|
//! | [`ScopeSet::Instances`] | `MASKINPORTEN_SCOPES`, default [`crate::config::DEFAULT_SCOPES`] | Storage and the App API |
//! | [`ScopeSet::EventsServiceOwner`] | `altinn:serviceowner` | app subscriptions; get, list and delete of any subscription |
//! | [`ScopeSet::EventsGenericResource`] | `altinn:serviceowner altinn:events.subscribe` | subscriptions to generic (non-app) resources, e.g. Correspondence |
//! | [`ScopeSet::EventsOrganisation`] | `altinn:events.subscribe` | every subscription call made as the organisation itself (a Correspondence recipient) |
//! | [`ScopeSet::CorrespondenceSender`] | `altinn:serviceowner altinn:correspondence.write` | the Correspondence API as sender |
//! | [`ScopeSet::CorrespondenceRecipient`] | `altinn:correspondence.read` | the Correspondence API as recipient |
//!
//! Why the Events sets look like this (Altinn Events' `SubscriptionController` and
//! `SubscriptionService`, <https://github.com/Altinn/altinn-events>):
//! - App subscriptions need no scope, only the `urn:altinn:org` claim, which the token exchange
//!   adds for any scope containing `altinn:serviceowner`; `altinn:serviceowner` alone is the
//!   scope Altinn's Events guide names for service owners.
//! - A subscription belongs to the identity that created it (`/org/{org}` with that claim,
//!   `/organisation/{orgno}` without), and get, list and delete compare that identity without
//!   checking any scope. Both subscription sets therefore carry `altinn:serviceowner`: every
//!   subscription we create is `/org/{org}`'s, and one list shows them all.
//! - Only generic-resource subscriptions need `altinn:events.subscribe` (403 without it).
//! - A Correspondence recipient subscribes as the organisation the correspondences are
//!   addressed to (`/organisation/{orgno}`), which is who Events authorises to receive events
//!   about that organisation; so its set leaves `altinn:serviceowner` out.

/// Altinn's service-owner scope: it makes the exchanged token carry `urn:altinn:org`.
pub const SERVICE_OWNER_SCOPE: &str = "altinn:serviceowner";
/// Needed for Events subscriptions to anything but app events.
pub const EVENTS_SUBSCRIBE_SCOPE: &str = "altinn:events.subscribe";
/// The Correspondence API as sender.
pub const CORRESPONDENCE_WRITE_SCOPE: &str = "altinn:correspondence.write";
/// The Correspondence API as recipient.
pub const CORRESPONDENCE_READ_SCOPE: &str = "altinn:correspondence.read";

/// The scopes of one kind of Altinn call. Each set gets its own cached token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeSet {
    /// Storage and the App API: the configured `MASKINPORTEN_SCOPES` (by default
    /// `altinn:serviceowner/instances.read altinn:serviceowner/instances.write`).
    Instances,
    /// Events as the service owner: app subscriptions, and get, list and delete of every
    /// subscription we created.
    EventsServiceOwner,
    /// Events: a subscription to a generic (non-app) resource, e.g. a Correspondence resource.
    EventsGenericResource,
    /// Events as the organisation (`/organisation/{orgno}`), not the service owner: create,
    /// get, list and delete of a Correspondence recipient's subscriptions.
    EventsOrganisation,
    /// The Correspondence API as the sending service owner.
    CorrespondenceSender,
    /// The Correspondence API as a recipient organisation. It must not carry
    /// `altinn:correspondence.write`: Correspondence treats any such token as the sender's.
    CorrespondenceRecipient,
}

impl ScopeSet {
    /// Every set, in the order of the table in the module docs.
    pub const ALL: [ScopeSet; 6] = [
        ScopeSet::Instances,
        ScopeSet::EventsServiceOwner,
        ScopeSet::EventsGenericResource,
        ScopeSet::EventsOrganisation,
        ScopeSet::CorrespondenceSender,
        ScopeSet::CorrespondenceRecipient,
    ];

    /// The set's scopes when they are fixed; `None` for [`ScopeSet::Instances`], which comes
    /// from the configuration.
    pub const fn fixed_scopes(self) -> Option<&'static str> {
        match self {
            ScopeSet::Instances => None,
            ScopeSet::EventsServiceOwner => Some("altinn:serviceowner"),
            ScopeSet::EventsGenericResource => Some("altinn:serviceowner altinn:events.subscribe"),
            ScopeSet::EventsOrganisation => Some("altinn:events.subscribe"),
            ScopeSet::CorrespondenceSender => {
                Some("altinn:serviceowner altinn:correspondence.write")
            }
            ScopeSet::CorrespondenceRecipient => Some("altinn:correspondence.read"),
        }
    }

    /// A short name for logs and messages.
    pub const fn name(self) -> &'static str {
        match self {
            ScopeSet::Instances => "instances",
            ScopeSet::EventsServiceOwner => "events-service-owner",
            ScopeSet::EventsGenericResource => "events-generic-resource",
            ScopeSet::EventsOrganisation => "events-organisation",
            ScopeSet::CorrespondenceSender => "correspondence-sender",
            ScopeSet::CorrespondenceRecipient => "correspondence-recipient",
        }
    }

    /// The set of an Events subscription call: as the organisation every call gets
    /// [`ScopeSet::EventsOrganisation`]; as the service owner, creating a subscription to a
    /// generic (non-app) resource gets [`ScopeSet::EventsGenericResource`] and everything else
    /// [`ScopeSet::EventsServiceOwner`].
    pub const fn for_subscriptions(as_organisation: bool, creating_generic: bool) -> ScopeSet {
        match (as_organisation, creating_generic) {
            (true, _) => ScopeSet::EventsOrganisation,
            (false, true) => ScopeSet::EventsGenericResource,
            (false, false) => ScopeSet::EventsServiceOwner,
        }
    }

    /// True for the Correspondence API's sets.
    pub const fn is_correspondence(self) -> bool {
        matches!(
            self,
            ScopeSet::CorrespondenceSender | ScopeSet::CorrespondenceRecipient
        )
    }

    /// The set's position in [`ScopeSet::ALL`].
    pub(super) const fn index(self) -> usize {
        match self {
            ScopeSet::Instances => 0,
            ScopeSet::EventsServiceOwner => 1,
            ScopeSet::EventsGenericResource => 2,
            ScopeSet::EventsOrganisation => 3,
            ScopeSet::CorrespondenceSender => 4,
            ScopeSet::CorrespondenceRecipient => 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_generic_subscription_set_can_subscribe_to_generic_resources() {
        for set in ScopeSet::ALL {
            assert_eq!(ScopeSet::ALL[set.index()], set);
            let scopes: Vec<&str> = set
                .fixed_scopes()
                .unwrap_or(crate::config::DEFAULT_SCOPES)
                .split(' ')
                .collect();
            assert_eq!(
                scopes.contains(&EVENTS_SUBSCRIBE_SCOPE),
                matches!(
                    set,
                    ScopeSet::EventsGenericResource | ScopeSet::EventsOrganisation
                ),
                "{set:?}"
            );
            assert_eq!(
                scopes.contains(&CORRESPONDENCE_WRITE_SCOPE),
                set == ScopeSet::CorrespondenceSender,
                "{set:?}"
            );
            assert_eq!(
                scopes.contains(&CORRESPONDENCE_READ_SCOPE),
                set == ScopeSet::CorrespondenceRecipient,
                "{set:?}"
            );
        }
    }

    #[test]
    fn both_subscription_sets_make_us_the_service_owner() {
        // Subscriptions belong to the identity that created them; with the service-owner scope
        // in both sets, app and generic subscriptions are all `/org/{org}`'s.
        for set in [
            ScopeSet::EventsServiceOwner,
            ScopeSet::EventsGenericResource,
        ] {
            let scopes = set.fixed_scopes().unwrap();
            assert!(
                scopes.split(' ').any(|s| s == SERVICE_OWNER_SCOPE),
                "{set:?}"
            );
        }
        // The recipient's sets speak for the organisation, never the service owner.
        for set in [
            ScopeSet::EventsOrganisation,
            ScopeSet::CorrespondenceRecipient,
        ] {
            assert!(
                !set.fixed_scopes().unwrap().contains(SERVICE_OWNER_SCOPE),
                "{set:?}"
            );
        }
    }
}
