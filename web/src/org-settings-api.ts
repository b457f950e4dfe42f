// The organisation's settings through the administration API (`manage_settings`): whether
// guests may join and open rooms, whether owners and admins moderate every meeting, what a new
// room starts with, the shortest room password, and the sizes and lifetimes of encrypted files
// and recordings.

import { type Answer, call } from './admin-api';
import type { Permissions } from './protocol';

export interface RoomDefaults { lobby: boolean; wait_for_moderator: boolean; permissions: Permissions }
export interface OrgSettings {
  guests_may_join: boolean;
  guests_create_rooms: boolean;
  admins_moderate: boolean;
  new_rooms: RoomDefaults;
  room_password_min_chars: number;
  max_file_bytes: number;
  file_lifetime_secs: number;
  max_recording_bytes: number;
  recording_retention_days: number;
}

export const orgSettings = {
  read: (): Promise<Answer<OrgSettings>> => call<OrgSettings>('GET', '/api/admin/settings'),
  save: (settings: OrgSettings): Promise<Answer<OrgSettings>> => call<OrgSettings>('PUT', '/api/admin/settings', settings),
};
