// The organisation's persistent rooms through the administration API (`manage_settings`).

import { type Answer, call } from './admin-api';
import type { RoomDefaults } from './org-settings-api';

export interface PersistentRoomRow { name: string; settings: RoomDefaults; password: boolean }

export const persistentRooms = {
  list: (): Promise<Answer<PersistentRoomRow[]>> => call<PersistentRoomRow[]>('GET', '/api/admin/rooms'),
  create: (name: string, settings: RoomDefaults, password: string): Promise<Answer<null>> =>
    call<null>('POST', '/api/admin/rooms', { name, settings, ...(password ? { password } : {}) }),
  remove: (name: string): Promise<Answer<null>> => call<null>('DELETE', `/api/admin/rooms/${encodeURIComponent(name)}`),
};
