"""Small conformer-free CTC acoustic model on LibriSpeech-style manifests (wav files on disk)."""
import json
import random

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio
from torch.utils.data import DataLoader, Dataset

VOCAB = list(" abcdefghijklmnopqrstuvwxyz'")


class ManifestDataset(Dataset):
    def __init__(self, manifest):
        with open(manifest) as f:
            self.items = [json.loads(line) for line in f]
        self.melspec = torchaudio.transforms.MelSpectrogram(16000, n_mels=80)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        wav, sr = torchaudio.load(self.items[i]["audio_filepath"])
        feats = self.melspec(wav).squeeze(0).transpose(0, 1)  # (T, 80)
        text = torch.tensor([VOCAB.index(c) + 1 for c in self.items[i]["text"].lower() if c in VOCAB])
        return feats, text


def collate(batch):
    feats, texts = zip(*batch)
    feat_lens = torch.tensor([f.size(0) for f in feats])
    text_lens = torch.tensor([t.size(0) for t in texts])
    return nn.utils.rnn.pad_sequence(feats, batch_first=True), feat_lens, torch.cat(texts), text_lens


class AcousticModel(nn.Module):
    def __init__(self, n_mels=80, hidden=320, n_tokens=len(VOCAB) + 1):
        super().__init__()
        self.rnn = nn.GRU(n_mels, hidden, num_layers=3, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, n_tokens)

    def forward(self, feats):
        h, _ = self.rnn(feats)
        logits = self.out(h)  # (B, T, V)
        # log-probabilities for CTC, normalised by hand
        return logits - torch.log(torch.sum(torch.exp(logits), dim=-1, keepdim=True))


if __name__ == "__main__":
    random.seed(0)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(ManifestDataset("train_clean_100.json"), batch_size=16, shuffle=True, collate_fn=collate,
                        generator=g, pin_memory=True)
    model = AcousticModel().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    for epoch in range(20):
        model.train()
        for step, (feats, feat_lens, targets, target_lens) in enumerate(loader):
            feats, targets = feats.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            with torch.cuda.amp.autocast(dtype=torch.bfloat16, enabled=device.type == "cuda"):
                log_probs = model(feats)
            loss = ctc(log_probs.float().transpose(0, 1), targets, feat_lens, target_lens)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % 100 == 0:
                print(f"epoch {epoch} step {step}: ctc {loss.item():.3f}")
        if random.random() < 0.1:
            print("sample:", F.softmax(log_probs[0, :5], dim=-1).argmax(-1).tolist())
        torch.save(model.state_dict(), f"ctc_epoch{epoch}.pt")
