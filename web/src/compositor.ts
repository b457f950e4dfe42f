// The layout a browser recording is made of: every video the recording moderator's page
// receives (already decrypted) and its own camera, drawn side by side into one canvas with
// each person's name, and every voice mixed into one audio track. The tracks are the ones the
// page already has; nothing here touches the network.

/** One person in the recording: their name and what of them the page receives. */
export interface RecordedSource { key: string; name: string; video: MediaStreamTrack | null; audio: MediaStreamTrack | null }

const WIDTH = 1280;
const HEIGHT = 720;
const FRAME_RATE = 30;

export class Compositor {
  /** The composed video and mixed audio, for a MediaRecorder. */
  readonly stream: MediaStream;
  private readonly canvas = document.createElement('canvas');
  private readonly context: CanvasRenderingContext2D;
  private readonly audio = new AudioContext();
  private readonly mix: MediaStreamAudioDestinationNode;
  private readonly videos = new Map<string, HTMLVideoElement>();
  private readonly voices = new Map<MediaStreamTrack, MediaStreamAudioSourceNode>();
  private readonly timer: number;

  constructor(private readonly sources: () => RecordedSource[]) {
    Object.assign(this.canvas, { width: WIDTH, height: HEIGHT });
    const context = this.canvas.getContext('2d');
    if (!context) throw new Error('This browser cannot draw the recording.');
    this.context = context;
    this.mix = this.audio.createMediaStreamDestination();
    const video = this.canvas.captureStream(FRAME_RATE).getVideoTracks();
    this.stream = new MediaStream([...video, ...this.mix.stream.getAudioTracks()]);
    this.timer = window.setInterval(() => this.draw(), 1000 / FRAME_RATE);
    this.draw();
  }

  stop(): void {
    window.clearInterval(this.timer);
    for (const track of this.stream.getTracks()) track.stop();
    for (const video of this.videos.values()) video.srcObject = null;
    void this.audio.close();
  }

  private draw(): void {
    const sources = this.sources();
    this.follow(sources);
    const { context } = this;
    context.fillStyle = '#0b1220';
    context.fillRect(0, 0, WIDTH, HEIGHT);
    const columns = Math.ceil(Math.sqrt(Math.max(sources.length, 1)));
    const rows = Math.ceil(Math.max(sources.length, 1) / columns);
    const [w, h] = [WIDTH / columns, HEIGHT / rows];
    sources.forEach((source, i) => this.drawTile(source, (i % columns) * w, Math.floor(i / columns) * h, w, h));
  }

  private drawTile(source: RecordedSource, x: number, y: number, w: number, h: number): void {
    const video = this.videos.get(source.key);
    const { context } = this;
    if (video && video.videoWidth > 0) {
      const scale = Math.min(w / video.videoWidth, h / video.videoHeight);
      const [vw, vh] = [video.videoWidth * scale, video.videoHeight * scale];
      context.drawImage(video, x + (w - vw) / 2, y + (h - vh) / 2, vw, vh);
    }
    context.font = '600 22px system-ui, sans-serif';
    context.fillStyle = 'rgba(0, 0, 0, 0.6)';
    context.fillRect(x + 8, y + h - 40, context.measureText(source.name).width + 16, 32);
    context.fillStyle = '#ffffff';
    context.fillText(source.name, x + 16, y + h - 16);
  }

  /** Keeps a playing <video> per video track and a mixer input per voice. */
  private follow(sources: RecordedSource[]): void {
    const keys = new Set(sources.map((s) => s.key));
    for (const [key, video] of this.videos) if (!keys.has(key)) { video.srcObject = null; this.videos.delete(key); }
    for (const source of sources) {
      const video = this.videos.get(source.key);
      const current = (video?.srcObject as MediaStream | null)?.getVideoTracks()[0];
      if (source.video && current !== source.video) {
        const element = video ?? Object.assign(document.createElement('video'), { muted: true, playsInline: true });
        element.srcObject = new MediaStream([source.video]);
        void element.play().catch(() => undefined);
        this.videos.set(source.key, element);
      }
    }
    const voices = new Set(sources.flatMap((s) => (s.audio ? [s.audio] : [])));
    for (const [track, node] of this.voices) if (!voices.has(track)) { node.disconnect(); this.voices.delete(track); }
    for (const track of voices) {
      if (this.voices.has(track)) continue;
      const node = this.audio.createMediaStreamSource(new MediaStream([track]));
      node.connect(this.mix);
      this.voices.set(track, node);
    }
  }
}
