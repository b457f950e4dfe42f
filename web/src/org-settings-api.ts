// The organisation's settings through the administration API (`manage_settings`): whether
// guests may join, whether owners and admins moderate every meeting, and what a new room
// starts with.

import { type Answer, call } from './admin-api';
import type { Permissions } from './protocol';

export interface RoomDefaults { lobby: boolean; wait_for_moderator: boolean; permissions: Permissions }
export interface OrgSettings { guests_may_join: boolean; admins_moderate: boolean; new_rooms: RoomDefaults }

export const orgSettings = {
  read: (): Promise<Answer<OrgSettings>> => call<OrgSettings>('GET', '/api/admin/settings'),
  save: (settings: OrgSettings): Promise<Answer<OrgSettings>> => call<OrgSettings>('PUT', '/api/admin/settings', settings),
};
