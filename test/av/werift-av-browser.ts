// A werift peer connection standing in for a browser in an audio/video call (customer or agent): it offers
// Opus and VP8 (like Chromium, with NACK and PLI feedback), sends real media encoded by ffmpeg in real time
// (a test pattern in VP8 and a tone in Opus, over RTP to a local socket that feeds the tracks), and counts
// the RTP and keyframe requests it receives.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, useNACK, usePLI, type RTCRtpTransceiver } from 'werift';
import { completeOffer, peerConnected } from '../support/werift-peer.ts';

export class WeriftAvBrowser {
  readonly pc: RTCPeerConnection;
  readonly received = { audio: 0, video: 0 };
  /** Keyframe requests (PLI) that reached this browser's video sender. */
  pliReceived = 0;
  private readonly audioTrack = new MediaStreamTrack({ kind: 'audio' });
  private readonly videoTrack = new MediaStreamTrack({ kind: 'video' });
  private video: RTCRtpTransceiver | null;
  private remoteVideoSsrc: number | null = null;
  private ffmpeg: ChildProcess | null = null;
  private sockets: Socket[] = [];

  constructor(withVideo = true) {
    this.pc = new RTCPeerConnection({
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 })],
        video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [useNACK(), usePLI()] })],
      },
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceUseIpv6: false,
    });
    const audio = this.pc.addTransceiver(this.audioTrack, { direction: 'sendrecv' });
    audio.onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => this.received.audio++));
    this.video = null;
    if (withVideo) this.addVideo();
  }

  /** Adds the camera (a video transceiver, sending what startMedia encodes): the next offer has video. */
  addVideo(): void {
    if (this.video) return;
    const video = this.pc.addTransceiver(this.videoTrack, { direction: 'sendrecv' });
    this.video = video;
    video.onTrack.subscribe((t) =>
      t.onReceiveRtp.subscribe((rtp) => {
        this.received.video++;
        this.remoteVideoSsrc = rtp.header.ssrc;
      }),
    );
    // werift routes a PLI by its sender SSRC first, so one about this sender may come out of the receiver.
    const pli = (rtcp: unknown) => {
      const r = rtcp as { type?: number; feedback?: { count?: number; mediaSsrc?: number } };
      if (r.type === 206 && r.feedback?.count === 1 && r.feedback.mediaSsrc === video.sender.ssrc) this.pliReceived++;
    };
    video.sender.onRtcp.subscribe(pli);
    video.receiver.onRtcp.subscribe(pli);
  }

  /** The complete offer (every candidate in it), as Kefu wants it. */
  async offer(): Promise<string> {
    const sdp = await completeOffer(this.pc);
    // This machine's other interfaces are not on the test's allow list (KEFU_AV_ALLOWED_CANDIDATES): the
    // loopback candidate only, as a browser on this host would reach Kefu.
    return sdp
      .split('\r\n')
      .filter((line) => !line.startsWith('a=candidate:') || line.split(' ')[4] === '127.0.0.1')
      .join('\r\n');
  }

  /** Applies Kefu's answer and waits until DTLS is up. */
  async answer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    await peerConnected(this.pc, 100_000, 'AV browser');
  }

  /** Starts sending: ffmpeg encodes a moving test pattern (VP8, 15 fps) and a tone (Opus) in real time. */
  async startMedia(): Promise<void> {
    const bind = async (track: MediaStreamTrack) => {
      const socket = createSocket('udp4');
      socket.on('message', (packet) => track.writeRtp(packet));
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      this.sockets.push(socket);
      return socket.address().port;
    };
    const videoPort = await bind(this.videoTrack);
    const audioPort = await bind(this.audioTrack);
    this.ffmpeg = spawn(
      'ffmpeg',
      [
        '-hide_banner', '-loglevel', 'error', '-re',
        '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
        '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
        '-map', '0:v', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k', '-g', '30', '-payload_type', '96', '-f', 'rtp', `rtp://127.0.0.1:${videoPort}?pkt_size=1200`,
        '-map', '1:a', '-c:a', 'libopus', '-b:a', '32k', '-payload_type', '111', '-f', 'rtp', `rtp://127.0.0.1:${audioPort}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }

  stopMedia(): void {
    this.ffmpeg?.kill('SIGKILL');
    this.ffmpeg = null;
    for (const s of this.sockets) s.close();
    this.sockets = [];
  }

  /** Applies Kefu's answer to a renegotiation (the connection is up already). */
  async answerAgain(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Asks whoever sends this browser video for a keyframe. */
  async sendPli(): Promise<boolean> {
    if (this.remoteVideoSsrc === null || !this.video) return false;
    await this.video.receiver.sendRtcpPLI(this.remoteVideoSsrc);
    return true;
  }

  async close(): Promise<void> {
    this.stopMedia();
    await this.pc.close();
  }
}
