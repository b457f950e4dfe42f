// Local capture: camera and microphone with a chosen device, the list of devices, a level meter.

export interface DeviceChoice { audioId?: string | undefined; videoId?: string | undefined }

export async function openCamera(deviceId?: string): Promise<MediaStreamTrack | null> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { ...(deviceId ? { deviceId: { exact: deviceId } } : {}), width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
    });
    return stream.getVideoTracks()[0] ?? null;
  } catch (e) {
    console.warn('camera unavailable', e);
    return null;
  }
}

export async function openMicrophone(deviceId?: string): Promise<MediaStreamTrack | null> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { ...(deviceId ? { deviceId: { exact: deviceId } } : {}), echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    return stream.getAudioTracks()[0] ?? null;
  } catch (e) {
    console.warn('microphone unavailable', e);
    return null;
  }
}

export async function listDevices(): Promise<{ cameras: MediaDeviceInfo[]; microphones: MediaDeviceInfo[] }> {
  const all = await navigator.mediaDevices.enumerateDevices().catch(() => [] as MediaDeviceInfo[]);
  return {
    cameras: all.filter((d) => d.kind === 'videoinput'),
    microphones: all.filter((d) => d.kind === 'audioinput'),
  };
}

export function deviceLabel(device: MediaDeviceInfo, index: number): string {
  return device.label || `${device.kind === 'videoinput' ? 'Camera' : 'Microphone'} ${index + 1}`;
}

/** Reads a microphone track's level (0..1) with an AnalyserNode. */
export class LevelMeter {
  private readonly context: AudioContext;
  private readonly analyser: AnalyserNode;
  private source: MediaStreamAudioSourceNode | null = null;
  private readonly buffer: Float32Array<ArrayBuffer>;

  constructor() {
    this.context = new AudioContext();
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 512;
    this.buffer = new Float32Array(this.analyser.fftSize);
  }

  attach(track: MediaStreamTrack | null): void {
    this.source?.disconnect();
    this.source = null;
    if (!track) return;
    this.source = this.context.createMediaStreamSource(new MediaStream([track]));
    this.source.connect(this.analyser);
    void this.context.resume().catch(() => {});
  }

  /** RMS level mapped to 0..1 on a loose log scale. */
  level(): number {
    if (!this.source) return 0;
    this.analyser.getFloatTimeDomainData(this.buffer);
    let sum = 0;
    for (const v of this.buffer) sum += v * v;
    const rms = Math.sqrt(sum / this.buffer.length);
    if (rms <= 0) return 0;
    const db = 20 * Math.log10(rms);
    return Math.max(0, Math.min(1, (db + 60) / 50));
  }

  close(): void {
    this.source?.disconnect();
    void this.context.close().catch(() => {});
  }
}
