//! The App API: an instance in the App dialect, from the app's own host
//! ([Altinn app-lib-dotnet](https://github.com/Altinn/app-lib-dotnet)).

use super::transport::{Call, extend_path, parse_instance, plain_name};
use super::{AltinnClient, ClientError};
use crate::event::InstanceRef;
use crate::instance::RawInstance;

impl AltinnClient {
    /// `GET {apps}{org}/{app}/instances/{partyId}/{guid}` (App dialect), raw bytes kept.
    pub async fn get_app_instance(
        &self,
        instance: &InstanceRef,
    ) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "get_app_instance";
        let org = plain_name(OPERATION, &instance.org)?;
        let app = plain_name(OPERATION, &instance.app)?;
        // The org picks the apps host; with a pinned org, no other org's app gets our token,
        // whatever the environment's host pattern (`local` has one apps URL for all orgs).
        if self
            .allowlist
            .pinned_org()
            .is_some_and(|pinned| pinned != org)
        {
            return Err(ClientError::NotAllowed {
                operation: OPERATION,
            });
        }
        let mut url = self.allowlist.environment().apps_url(org);
        let party_id = instance.party_id.to_string();
        let guid = instance.instance_guid.to_string();
        extend_path(
            OPERATION,
            &mut url,
            &[org, app, "instances", &party_id, &guid],
        )?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_instance(OPERATION, body)
    }
}
